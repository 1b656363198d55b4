from migrate.urls import mask_url, parse_url, redact


def test_mask_url_hides_password_and_query_secrets():
    text = mask_url("postgresql+psycopg://u:p%40ss-1@h:5432/db?sslpassword=zz-top-9&application_name=m")
    assert "p@ss-1" not in text and "p%40ss-1" not in text and "zz-top-9" not in text
    assert "application_name=m" in text and text.count("***") == 2


def test_redact_scrubs_registered_secrets_anywhere():
    parse_url("postgresql://u:hunter2-xyz@h/db")
    assert redact('connection to "h" failed for user u with hunter2-xyz').count("hunter2-xyz") == 0


def test_redact_catches_unregistered_url_shapes():
    assert "abc123" not in redact("failed: postgresql://bob:abc123@db/x")
    assert "qq9" not in redact("dsn host=x sslpassword=qq9 port=1")
