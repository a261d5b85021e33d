"""Queue `gmail`: send stored emails through the company's Gmail account."""
