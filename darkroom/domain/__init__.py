"""Records and rules of darkroom. No I/O lives here."""
