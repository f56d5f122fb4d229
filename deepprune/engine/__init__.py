"""Generation: sample traces from a real model server (``backends``) and build pools (``generate``)."""
