"""ATen converters, one module per op family. Each converter is a thin adapter registered with
@converter on exact OpOverloads: it unpacks the node's arguments and calls the layer builders in
conversion/impl/. Importing this package registers them all (the list below is the one place that
names the families)."""

from tensorforge.dynamo.conversion.aten_ops import elementwise  # noqa: F401
from tensorforge.dynamo.conversion.aten_ops import unary  # noqa: F401
from tensorforge.dynamo.conversion.aten_ops import activation  # noqa: F401
from tensorforge.dynamo.conversion.aten_ops import creation  # noqa: F401
from tensorforge.dynamo.conversion.aten_ops import conv_pool  # noqa: F401
from tensorforge.dynamo.conversion.aten_ops import norm  # noqa: F401
from tensorforge.dynamo.conversion.aten_ops import reduce  # noqa: F401
from tensorforge.dynamo.conversion.aten_ops import resize_pad  # noqa: F401
from tensorforge.dynamo.conversion.aten_ops import shape  # noqa: F401
from tensorforge.dynamo.conversion.aten_ops import matmul  # noqa: F401
from tensorforge.dynamo.conversion.aten_ops import index  # noqa: F401
from tensorforge.dynamo.conversion.aten_ops import attention  # noqa: F401
from tensorforge.dynamo.conversion.aten_ops import quantize  # noqa: F401
