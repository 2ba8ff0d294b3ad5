"""Every differentiable function, forward and backward side by side, one file per family of ops."""
