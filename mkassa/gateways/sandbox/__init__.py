"""The sandbox bank, all in one place (BANK_MODE=sandbox; production never mounts or calls it).

- `bank` — the bank simulation: the payer pays an ELQR link, the Bank notifies MKASSA by webhook.
- `views` — its pages (blueprint `sandbox`, /sandbox/…): SMS and e-mail outboxes, the payer.
- `corebank`, `sms` — the sandbox sides of the gateways `gateways.corebank` and `gateways.sms`,
  which choose them by `settings.sandbox`.

Its templates stay in `templates/sandbox/`: the one template tree is what Babel extracts
(babel.cfg) and what the pages' `base.html` and macros live beside.
"""
