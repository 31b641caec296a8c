#pragma once
// <xgrad/data.hpp>: data/, datasets as arrays of examples (xt::xarray), the IDX reader for
// (Fashion-)MNIST, the DataLoader with its samplers, and the CS231n preprocessing transforms.
// It includes <xgrad/xtensor.hpp>; the model side is <xgrad/xgrad.hpp>.
#include "data/dataloader.hpp"
#include "data/dataset.hpp"
#include "data/eigen.hpp"
#include "data/idx.hpp"
#include "data/sampler.hpp"
#include "data/transforms.hpp"
#include "xgrad.hpp"
#include "xtensor.hpp"
