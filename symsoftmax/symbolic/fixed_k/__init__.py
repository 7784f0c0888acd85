"""Fixed-K proofs: the closed-form templates compiled to the exact ring (`templates`) and every
identity proven entry by entry or by permutation for one K (`proofs`, `verify --k K`)."""
