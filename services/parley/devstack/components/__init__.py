"""One module per backing server of the dev stack."""
