// TensorForge: the whole public C++ API.
#pragma once

#include "tensorforge/builder.h"
#include "tensorforge/dynamic_engine.h"
#include "tensorforge/engine.h"
#include "tensorforge/logger.h"
#include "tensorforge/memory.h"
#include "tensorforge/network.h"
#include "tensorforge/types.h"
