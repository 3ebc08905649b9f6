"""Federated simulations on the public datasets: real server and node processes over HTTP."""
