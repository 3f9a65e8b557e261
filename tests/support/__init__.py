"""What the tests share: independent oracles, workloads, simulations and the harness that runs a pipeline."""
