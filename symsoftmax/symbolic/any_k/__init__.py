"""Proofs for symbolic K (SymPy): the derivative identities (`general`), and the case proofs
(`casework`) of the definition's claims (`claims`) and the online recurrences (`online_proofs`);
`verify --general` runs them all."""
