"""Active ISO 4217 currency codes a purchase may be made in.

Kept as an explicit list (not a library lookup) so a code that ISO withdraws or adds is a
reviewed one-line change. Fund codes (BOV, CHE, CHW, CLF, COU, MXV, USN, UYI, UYW), precious
metals (XAU, XAG, XPD, XPT), SDR/units (XDR, XSU, XUA, XBA-XBD) and the testing / no-currency
codes (XTS, XXX) are left out on purpose: nobody pays for a coffee in them.

Withdrawn codes are absent as well: HRK (Croatia joined the euro in 2023), CUC (2021),
SLL (replaced by SLE), ZWL (replaced by ZWG in 2024), ANG (replaced by XCG in 2025).
"""

from __future__ import annotations

__all__ = ["ACTIVE_ISO_4217"]

ACTIVE_ISO_4217: frozenset[str] = frozenset(
    """
    AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP
    BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP
    GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES
    KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU
    MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON
    RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND
    TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR
    ZMW ZWG
    """.split()  # noqa: SIM905 - a grid of codes reads better than 156 quoted strings
)
