"""The exact ring: Laurent polynomials over ℚ in the exponential atoms, with exp, log, 1/S and
a derivation (`terms` ← `polynomial`, or `flint_polynomial` when ``SYMSOFTMAX_RING=flint`` ←
`ring`). Pure Python, no SymPy; the fixed-K proofs decide their zero tests here."""
