"""A throwaway local PostgreSQL (`cluster`) and the faults it reproduces and triages live (`demo`)."""
