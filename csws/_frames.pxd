cdef void copy_frame(double *dst, const double *src, size_t n) noexcept nogil
cdef void interleave(double *dst, const double *src, size_t nelems, size_t ksmps,
                     size_t stride) noexcept nogil
cdef void deinterleave(double *dst, const double *src, size_t nelems, size_t ksmps,
                       size_t stride) noexcept nogil
