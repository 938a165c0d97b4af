"""Huawei Cloud service tickets (cases) and their operation logs."""
