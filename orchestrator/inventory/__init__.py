"""Terraform state → named targets (roles), and a drift check against AWS.

``state`` reads the state (local file, ``s3://bucket/key``, or ``terraform show -json``),
``roles`` resolves roles from explicit ``targets:`` or by discovery (DESIGN section 4),
``drift`` compares what the state says with what AWS reports.
"""
