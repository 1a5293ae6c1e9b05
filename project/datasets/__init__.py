"""Dataset engine: import of CSV/XLSX uploads, validation, metadata and lineage.

Public entry points live in :mod:`project.importar_datos` (import) and
:mod:`project.dataset_manager` (summary, report, merge, register); the
modules here are their building blocks:

* :mod:`~project.datasets.templates` - canonical fields, synonyms, auto-mapping, template files
* :mod:`~project.datasets.reader` - file type sniffing, CSV layout, guarded XLSX reading
* :mod:`~project.datasets.parsing` - vectorised date/number/text/flag parsers
* :mod:`~project.datasets.validation` - checks, duplicates, errors table
* :mod:`~project.datasets.metadata` - metadata dict, content digest, atomic Parquet I/O
* :mod:`~project.datasets.export` - formula-injection-safe CSV export
* :mod:`~project.datasets.summary`, :mod:`~project.datasets.report`, :mod:`~project.datasets.merge`,
  :mod:`~project.datasets.registry` - the dataset_manager commands
"""
