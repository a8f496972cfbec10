"""Attribution rules, one TOML file per finding kind (see forensics/diagnosis/rules.py)."""
