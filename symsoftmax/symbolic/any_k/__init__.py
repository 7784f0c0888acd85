"""Proofs for symbolic K (SymPy): the derivative identities (`general`), and the case proofs
(`casework`) of the definition's claims (`claims`), the online recurrences (`online_proofs`) and
the sink and soft-cap variants (`variants`); `verify --general` runs them all."""
