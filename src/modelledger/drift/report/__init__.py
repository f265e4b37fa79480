"""The drift check's result as one self-contained HTML page with inline SVG charts."""
