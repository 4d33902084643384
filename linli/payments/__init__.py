"""Owns payment orders, gateways, notifications, payments, prepaid wallets, anomalies, counter.
May use: billing, owners and below, paysim; receipts and refunds only through hooks they register."""
