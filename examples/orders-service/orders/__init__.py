"""A small order-pricing service."""
