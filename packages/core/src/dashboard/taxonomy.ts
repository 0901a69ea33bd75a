import type { Db } from "../db/db.js";

export interface TaxonomyItem {
  code: string;
  category: string;
  description: string;
}

export async function editTaxonomy(db: Db): Promise<TaxonomyItem[]> {
  return db.query<TaxonomyItem>("SELECT code, category, description FROM edit_taxonomy ORDER BY category, code");
}
