"""Planning: plans per ops group and day, solved in the worker on the optimizer."""
