"""Printing what is proven: `derive` (the fixed-K formulas), `derive_online` (the online
updates), `derivations` (the generated documents under derivations/)."""
