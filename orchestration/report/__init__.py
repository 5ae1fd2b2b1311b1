"""The HTML report: marts -> one self-contained file with inline SVG charts (`aiw report`, the report asset)."""
