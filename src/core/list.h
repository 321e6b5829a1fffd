/*
 * list.h - intrusive doubly linked list and container_of.
 *
 * Nodes live inside the structs they link (a connection is on its worker's
 * timeout list through a member), so linking never allocates and removal
 * is O(1). An empty list is a head pointing at itself; a node that is on
 * no list has next == NULL, which list_unlink tolerates.
 */
#ifndef CRIER_CORE_LIST_H
#define CRIER_CORE_LIST_H

#include <stdbool.h>
#include <stddef.h>

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

struct list {
	struct list *next, *prev;
};

static inline void list_init(struct list *head)
{
	head->next = head->prev = head;
}

static inline bool list_empty(const struct list *head)
{
	return head->next == head;
}

static inline bool list_linked(const struct list *node)
{
	return node->next != NULL;
}

/* Appends node at the tail of head. */
static inline void list_push(struct list *head, struct list *node)
{
	node->prev = head->prev;
	node->next = head;
	head->prev->next = node;
	head->prev = node;
}

/* Removes node from whatever list it is on; a no-op when it is on none. */
static inline void list_unlink(struct list *node)
{
	if (!node->next)
		return;
	node->prev->next = node->next;
	node->next->prev = node->prev;
	node->next = node->prev = NULL;
}

#define list_first(head) ((head)->next)

#endif
