"""A throwaway local PostgreSQL (`cluster`, the façade over install, spec, datadir, process, state, admin
and owned) and the faults it reproduces and triages live (`demo`, `demo_pooler`, `demo_app`, `fault`)."""
