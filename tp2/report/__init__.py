"""Everything that writes prose or Markdown: one module per exercise, called by make_report.py.

Each module reads the CSV / JSON facts a script wrote to the results folder and returns
`markdown_files(folder)` ({file name: Markdown}, for the per-table .md files) and
`section(folder)` (the lines of its part of REPORT.md, with the 2016 report's numbers).
"""
