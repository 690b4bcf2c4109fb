"""Console scripts. Importing this package selects the threading concurrency backend."""

from cyborg.common import concurrency

concurrency.use_threading()
