"""Readers for the shared local datasets, one module per task family; each reads the published format
directly and returns plain columns (or :class:`~mote.data.evaluations.retrieval.RetrievalData`)."""
