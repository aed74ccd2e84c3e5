"""Neural building blocks shared by fmat's policies."""
