"""flocloud.chain: the FLO blockchain layer.

The transaction codec (floData, Flo Core's signature hash), explorer readers (Blockbook
v1/v2, RanchiMall's fork and upstream, Flosight), the registry format and its follower,
the publisher, and presets of the real networks. The embedded dev chain is
``flocloud.chain.devchain`` (imported on its own: it brings an HTTP server).
"""

from .blockbook import BlockbookV1Reader, BlockbookV2Reader
from .explorers import make_reader
from .flosight import FlosightReader
from .follower import DEFAULT_CONFIRMATIONS, RegistryFollower
from .netconfig import RegistryConfig, check_config_value
from .networks import PRESETS, ChainPreset, preset
from .publisher import Publisher, build_data_tx
from .reader import ChainReader, ChainStatus, ChainTx, Utxo, check_hex
from .registry import (
    AppInfo,
    Epoch,
    NetworkState,
    SupernodeInfo,
    apply_admin_update,
    apply_update,
    make_admin_update,
    make_registry_update,
)
from .tx import OutPoint, Transaction, TxIn, TxOut, sign_p2pkh_input, verify_p2pkh_input

__all__ = [
    "DEFAULT_CONFIRMATIONS",
    "PRESETS",
    "AppInfo",
    "BlockbookV1Reader",
    "BlockbookV2Reader",
    "ChainPreset",
    "ChainReader",
    "ChainStatus",
    "ChainTx",
    "Epoch",
    "FlosightReader",
    "NetworkState",
    "OutPoint",
    "Publisher",
    "RegistryConfig",
    "RegistryFollower",
    "SupernodeInfo",
    "Transaction",
    "TxIn",
    "TxOut",
    "Utxo",
    "apply_admin_update",
    "apply_update",
    "build_data_tx",
    "check_config_value",
    "check_hex",
    "make_admin_update",
    "make_reader",
    "make_registry_update",
    "preset",
    "sign_p2pkh_input",
    "verify_p2pkh_input",
]
