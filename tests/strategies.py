"""Shared Hypothesis strategies for flocloud tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from flocloud.protocol.keys import PrivateKey
from flocloud.protocol.params import MAINNET, TESTNET

CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

secrets = st.integers(min_value=1, max_value=CURVE_ORDER - 1).map(lambda n: n.to_bytes(32, "big"))
networks = st.sampled_from([MAINNET, TESTNET])
keys = st.builds(lambda s, n, c: PrivateKey(s, n, c), secrets, networks, st.booleans())
mainnet_keys = secrets.map(lambda s: PrivateKey(s, MAINNET))

# JSON values as a browser could send them: any text, floats, big ints, nesting.
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)


def json_values(max_leaves: int = 20) -> st.SearchStrategy[Any]:
    return st.recursive(
        json_scalars,
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=8), children, max_size=4)
        ),
        max_leaves=max_leaves,
    )
