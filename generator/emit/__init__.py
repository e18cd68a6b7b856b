"""Emitters: each turns the content model into one output and shares nothing with the others."""
