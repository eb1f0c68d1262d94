package layout

// BlockAddress is a block's content address: the id BlockID gives its signal and bytes, and the key
// BlockKey files it under. A writer that computes both here writes a retried request onto the
// objects its first attempt wrote.
func BlockAddress(meta BlockMeta, block []byte) (id UUID, key string) {
	id = BlockID(meta.Signal, block)
	return id, BlockKey(meta.Signal, meta.MinTime, id)
}
