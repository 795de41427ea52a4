package emulator

// messageUID returns the message id for the seq-th accepted push, in the
// service's "XXXX-XXXX-XXXX-XXXX" form (uppercase letters and digits).
//
// Ids are unique within an emulator without remembering them: the low 13
// characters are base-36 digits of a bijective mix of seq^key (splitmix64's
// finalizer is a permutation of uint64), so distinct seqs give distinct ids.
// The top 3 characters are derived from the same value to look random.
func messageUID(seq, key uint64) string {
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	x := mix64(seq ^ key)
	var raw [16]byte
	v := x
	for i := 15; i >= 3; i-- { // 36^13 > 2^64: 13 digits hold any uint64
		raw[i] = digits[v%36]
		v /= 36
	}
	h := mix64(x ^ 0x9e3779b97f4a7c15)
	for i := 2; i >= 0; i-- {
		raw[i] = digits[h%36]
		h /= 36
	}
	out := make([]byte, 0, 19)
	for i, c := range raw {
		if i > 0 && i%4 == 0 {
			out = append(out, '-')
		}
		out = append(out, c)
	}
	return string(out)
}

// mix64 is splitmix64's finalizer: every step (xor-shift, multiplication by
// an odd constant) is invertible, so mix64 is a bijection.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
