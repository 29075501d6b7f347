"""Routes: sequences of orders for a worker, their estimates, and starting them."""
