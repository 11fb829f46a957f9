"""Tests of scanner.enrich (a package so its module names never clash with other test folders)."""
