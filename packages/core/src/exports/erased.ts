/** What an export erased because of a GDPR erasure says (its `error`). */
export const ERASED_REASON = "a user in this export was erased (GDPR); its file was deleted";
