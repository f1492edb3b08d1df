"""vdd-teachers: diffusion-policy teachers (BESO/VE, DDPM/VP) and their score adapters.

Not implemented yet (tracked as its own issue): this release holds only the package layout so
the dependency graph moe <- teachers <- distill <- bench is in place. Until then VDD runs
against analytic scores (`distill.GaussianMixtureScore`).
"""

__version__ = "0.0.1"
__all__ = ["__version__"]
