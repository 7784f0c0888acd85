"""Symbolic half of symsoftmax (SymPy): expressions, derivatives, proofs and printing."""
