"""The agents' pure logic: decoding rows, the per-key state records and the functions that apply facts to them
and build output rows. No I/O and no faust here (the agents in ``streams/agents/`` call these)."""
