"""fer-da: facial expression recognition with unsupervised domain adaptation."""

__version__ = "0.3.0"
