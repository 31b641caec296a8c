#pragma once
// Private to distributed/: MPI's C calls, checked. MPI's default error handler aborts the job on an
// error (MPI_ERRORS_ARE_FATAL), so a failed call already ends every rank with MPI's message; the check
// is for communicators set to return errors, and says which xgrad function made the call.
#include <mpi.h>

#include "../autograd/dtype.hpp"
#include "../autograd/error.hpp"

namespace xgrad::dist::detail {

inline void check_mpi(int code, const char* function, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw Error("{}: {} failed: {}", function, call, std::string_view(text, static_cast<std::size_t>(length)));
}

inline MPI_Datatype mpi_type(DType dtype) { return dtype == f32 ? MPI_FLOAT : MPI_DOUBLE; }

}  // namespace xgrad::dist::detail

#define XG_MPI(function, call) ::xgrad::dist::detail::check_mpi((call), function, #call)
