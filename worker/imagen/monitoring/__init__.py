"""What operators watch: the observer hooks the worker calls, Prometheus metrics and health probes
on the status server, and the JSON log format."""
