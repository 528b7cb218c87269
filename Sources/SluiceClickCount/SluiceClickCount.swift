// Placeholder; replaced by the module's real entry point.
