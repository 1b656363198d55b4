"""migrate: move a manufacturer's legacy data into a unified ERP model, phase by phase."""

__version__ = "0.1.0"
